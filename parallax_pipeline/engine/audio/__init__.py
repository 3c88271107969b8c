"""Audio: `codec` (decode any file, write WAV), `clips`, `dsp`, `loudness`, `dynamics`,
`mastering`, `mixing`, `settings` (the mix's typed settings) and `preview` (loudness
over time as a picture). All signals are (2, N) float32 at `dsp.SAMPLE_RATE`."""
