"""The ground every stage stands on: params.yaml as frozen dataclasses (config), the one error type,
images and devices, where artifacts live (layout), HDF5 stores and atomic writes, code hashes, the CLI shape.
"""
