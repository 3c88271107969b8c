"""Video files: `codec` (encode, probe, read), `concat` (stream-copy joins, decode
audit) and `yuv` (the compiled RGB to yuv420p conversion x264 is fed with)."""
