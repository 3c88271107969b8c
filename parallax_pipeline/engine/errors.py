"""Errors of the media engine. Each message names the file and the problem."""


class MediaError(ValueError):
    """An input file (image, depth map, audio, video) cannot be used; the message names it."""
