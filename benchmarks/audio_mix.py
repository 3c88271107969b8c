"""Mixing and mastering a 10-minute project, as a ratio of real time, measured in one run.

    .venv/bin/python benchmarks/audio_mix.py            # the issue's 10-minute project
    .venv/bin/python benchmarks/audio_mix.py --quick    # 1 minute, for a smoke run

The project is a real project folder loaded with `load_project`: 60 scenes of 10 s
(one image reused), each narrated by one of the demo's espeak voiceovers (WAV), the
demo's 8 s MP3 music looped to 10 minutes, and 20 effects (the demo's WAVs, some as
FLAC and Ogg Vorbis, some scene-relative, with fades). Timed, each as seconds of work
per second of programme (``x real time`` is the inverse):

  a. mixed_audio's work: decode every input, match loudness, place, duck, sum, master
     (normalise + true-peak limit), which is `mixing.render_mix`;
  b. of which mastering alone (`mastering.master` on the same pre-master sum);
  c. the mix picture for the UI (`audio.preview.mix_picture`), and writing mix.wav;
  d. final production: AAC encode muxed with a (tiny, stream-copied) video, decode back
     and measure the delivered file (`delivery.produce_final`).

Then the figures the issue asks for, measured on the delivered MP4: integrated loudness
(our meter and pyloudnorm), true peak against the ceiling, loudness range; and our
BS.1770 meter's speed against pyloudnorm's on the same 10 minutes.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout

from parallax_pipeline.engine.audio import (
    loudness,
    mixing,  # noqa: E402
)
from parallax_pipeline.engine.audio import preview as mix_preview
from parallax_pipeline.engine.audio.codec import decode_audio, write_wav
from parallax_pipeline.engine.audio.dsp import SAMPLE_RATE
from parallax_pipeline.engine.audio.mastering import master  # noqa: E402
from parallax_pipeline.engine.delivery import produce_final  # noqa: E402
from parallax_pipeline.engine.video.codec import VideoSettings, encode_frames  # noqa: E402
from parallax_pipeline.spec import load_project  # noqa: E402

DEMO = REPO / "projects" / "demo"
SCENE_SECONDS = 10
EFFECTS = 20


def make_project(folder: Path, scenes: int) -> Path:
    """A project folder: `scenes` narrated 10 s scenes, looped music, 20 effects."""
    (folder / "images").mkdir(parents=True)
    shutil.copyfile(DEMO / "images" / "01-valley.jpg", folder / "images" / "scene.jpg")
    (folder / "audio" / "sfx").mkdir(parents=True)
    shutil.copyfile(DEMO / "audio" / "music.mp3", folder / "audio" / "music.mp3")
    voices = sorted((DEMO / "audio" / "voiceover").glob("*.wav"))
    effects = []
    for index, source in enumerate(sorted((DEMO / "audio" / "sfx").glob("*.wav"))):
        samples = decode_audio(source)
        for suffix, codec in ((".wav", None), (".flac", "flac"), (".ogg", "vorbis")):
            target = folder / "audio" / "sfx" / f"{source.stem}{suffix}"
            if codec is None:
                shutil.copyfile(source, target)
            else:
                _encode(target, samples, codec)
            effects.append(target.relative_to(folder))
    lines = ["output: {resolution: [320, 180], fps: 24, quality: draft}", "scenes:"]
    for index in range(scenes):
        voice = voices[index % len(voices)].relative_to(DEMO)
        (folder / voice).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(DEMO / voice, folder / "audio" / "voiceover" / f"s{index:03d}.wav")
        lines.append(
            f"  - {{id: s{index:03d}, image: images/scene.jpg, duration: {SCENE_SECONDS}, "
            f"voiceover: audio/voiceover/s{index:03d}.wav, voiceover_offset: 0.5}}"
        )
    lines += ["audio:", "  music: audio/music.mp3", "  effects:"]
    for index in range(EFFECTS):
        file = effects[index % len(effects)]
        if index % 2:  # half placed relative to a scene's start, with fades
            scene = index * scenes // EFFECTS
            fades = "fade_in: 0.01, fade_out: 0.2"
            lines.append(f"    - {{file: {file}, scene: s{scene:03d}, at: 7.25, gain: 0.7, {fades}}}")
        else:
            at = index * scenes * SCENE_SECONDS / EFFECTS + 3.1
            lines.append(f"    - {{file: {file}, at: {at:.3f}, gain: 0.5}}")
    (folder / "project.yaml").write_text("\n".join(lines) + "\n")
    return folder


def _encode(path: Path, samples: np.ndarray, codec: str) -> None:
    from fractions import Fraction

    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=SAMPLE_RATE, layout="stereo")
        if codec == "vorbis":
            stream.codec_context.options = {"strict": "experimental"}
        fmt = "s16" if codec == "flac" else "fltp"
        for pos in range(0, samples.shape[1], 4096):
            block = samples[:, pos : pos + 4096]
            if fmt == "s16":
                block = (np.clip(block, -1, 1).T * 32767).astype(np.int16).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block), format=fmt, layout="stereo")
            frame.sample_rate, frame.pts, frame.time_base = SAMPLE_RATE, pos, Fraction(1, SAMPLE_RATE)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def timed(label: str, seconds_of_programme: float, fn):
    start = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - start
    print(f"  {label:<46} {elapsed:7.2f} s   {elapsed / seconds_of_programme:.4f} of real time "
          f"({seconds_of_programme / elapsed:6.0f}x real time)")
    return result, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a 1-minute project instead of 10 minutes")
    args = parser.parse_args()
    scenes = 6 if args.quick else 60

    from parallax_pipeline.assets.project import mix_inputs  # Dagster import: not timed

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        spec = load_project(make_project(tmp / "bench", scenes))
        target = spec.audio.mix.loudness
        length, voiceovers, music, effects = mix_inputs(spec)
        programme = length / SAMPLE_RATE
        print(f"project: {len(spec.scenes)} scenes, {programme / 60:.1f} min, {len(voiceovers)} voiceovers, "
              f"music {music.name} looped, {len(effects)} effects; target {target.lufs} LUFS, "
              f"ceiling {target.true_peak} dBTP")
        print("timings (2-core CPU):")

        def mix():
            return mixing.render_mix(length, voiceovers, music, effects, spec.audio.mix)

        result, mix_seconds = timed("a. decode + match + duck + mix + master", programme, mix)
        premaster = sum(result.buses.values())
        timed("b.   of which mastering (normalise + limit)", programme, lambda: master(premaster, target))
        premaster = None  # free it before the next stages
        timed("c. mix picture", programme, lambda: mix_preview.mix_picture(
            result.buses, result.samples, target.lufs, bus_gain_db=result.master.gain_db))
        result.buses.clear()
        wav = tmp / "mix.wav"
        _, wav_seconds = timed("c. write mix.wav (float32)", programme, lambda: write_wav(wav, result.samples))

        video = tmp / "picture.mp4"
        frames = (np.zeros((16, 16, 3), np.uint8) for _ in range(round(programme * 24)))
        encode_frames(frames, video, VideoSettings(16, 16, 24, crf=40, preset="ultrafast"))
        made, production_seconds = timed("d. final production (AAC, decode, measure)", programme,
                                         lambda: produce_final(video, wav, tmp / "final.mp4", target))
        total = mix_seconds + wav_seconds + production_seconds
        print(f"  {'mixed_audio + final_video audio work, total':<46} {total:7.2f} s   "
              f"{total / programme:.4f} of real time ({programme / total:6.0f}x real time)")

        import pyloudnorm

        delivered = decode_audio(tmp / "final.mp4")
        ours, our_seconds = timed("our BS.1770 integrated loudness", programme,
                                  lambda: loudness.integrated_loudness(delivered))
        meter = pyloudnorm.Meter(SAMPLE_RATE)
        theirs, their_seconds = timed("pyloudnorm integrated loudness", programme,
                                      lambda: meter.integrated_loudness(delivered.T.astype(np.float64)))
        print(f"  our meter takes {our_seconds / their_seconds:.2f}x pyloudnorm's time")
        tp = loudness.true_peak(delivered)
        print("delivered MP4 (decoded AAC):")
        print(f"  integrated loudness {ours:.2f} LUFS (pyloudnorm {theirs:.2f}); target {target.lufs}: "
              f"off by {abs(theirs - target.lufs):.2f} LU (limit 0.5)")
        print(f"  true peak {tp:.2f} dBTP; ceiling {target.true_peak} dBTP "
              f"({'at or below' if tp <= target.true_peak else 'OVER'}); "
              f"loudness range {made.loudness.loudness_range_lu:.1f} LU; AAC encodes {made.attempts}")
        print(f"  audio samples {made.audio_samples} = video {made.video_samples}: "
              f"{made.audio_samples == made.video_samples}")
        print(f"  limiter on the master: up to {result.master.limiter_reduction_db:.1f} dB")
        for warning in result.warnings:
            print(f"  warning: {warning}")
        print(f"peak memory (max RSS) {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB "
              f"for {programme / 60:.0f} min of 48 kHz stereo ({length * 8 / 2**20:.0f} MiB per float32 copy)")


if __name__ == "__main__":
    main()
