"""The human body as data: the keypoint schema and its 10 parts (skeleton), Gaussian pose maps,
the per-part affines and warps that build the tangram (parts), and distances between poses.
"""
