"""Running a trained model: test-set inference, motion transfer of a reference video, pose smoothing
and retargeting (retarget), compositing the person, the live mode and the dancegen command.
"""
