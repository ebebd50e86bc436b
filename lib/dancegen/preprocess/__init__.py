"""Video → per-frame data: ffmpeg I/O and framing, frame extraction, person detection (detect/),
crowd handling, body parsing, the background plate and the train/test pairs of a personal video.
"""
