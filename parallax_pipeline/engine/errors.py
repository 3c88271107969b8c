"""Errors of the media engine. Each message names the file and the problem."""


class MediaError(ValueError):
    """An input file (image, depth map, audio, video) cannot be used; the message names it."""


def short_reason(err: BaseException, limit: int = 300) -> str:
    """One line naming the error, for messages: the first line of it, cut to `limit`."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    text = f"{type(err).__name__}: {text}" if text else type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
