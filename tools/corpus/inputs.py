"""Realistic test inputs for the model corpus: rendered text, captchas, voiced audio (and
Whisper's log-mel features of it), photos.

Everything is generated here from a seed (no data files), so each run feeds the
models the same inputs. Images are returned as uint8 HxWx3 RGB (or HxW gray);
each model's own preprocessing (normalization, layout) is done by the caller,
next to the model it belongs to.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFont

WORDS = ["Dyadic", "2026", "integer", "only", "inference", "ONNX", "model", "quantized",
         "Swift", "kernel", "scale", "zero", "point", "latency", "median", "runtime",
         "tensor", "layer", "shift", "round", "batch", "image", "speech", "text"]

_FONT_CANDIDATES = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
]


@lru_cache(maxsize=None)
def font(size: int) -> ImageFont.ImageFont:
    """A TrueType sans font when the system has one, else Pillow's built-in default."""
    for path in _FONT_CANDIDATES:
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    try:
        return ImageFont.load_default(size=size)  # scalable since Pillow 10.1
    except TypeError:
        return ImageFont.load_default()


def _resize(img: Image.Image, width: int, height: int) -> Image.Image:
    return img.resize((width, height), Image.BILINEAR)


def text_line(text: str, height: int = 48, multiple: int = 8, seed: int = 0) -> np.ndarray:
    """One line of dark text on a light background, scaled to `height` rows and a
    width rounded up to `multiple` (what a CRNN/SVTR recognizer is fed)."""
    rng = np.random.default_rng(seed)
    f = font(40)
    left, top, right, bottom = f.getbbox(text)
    pad = 8
    bg = tuple(int(v) for v in rng.integers(215, 256, 3))
    fg = tuple(int(v) for v in rng.integers(0, 60, 3))
    img = Image.new("RGB", (right - left + 2 * pad, bottom - top + 2 * pad), bg)
    ImageDraw.Draw(img).text((pad - left, pad - top), text, font=f, fill=fg)
    width = max(multiple, int(math.ceil(img.width * height / img.height / multiple)) * multiple)
    return np.asarray(_resize(img, width, height))


def text_page(height: int, width: int, lines: int = 3, seed: int = 0) -> np.ndarray:
    """A few lines of text at different sizes and offsets, like a photographed label."""
    rng = np.random.default_rng(seed)
    bg = tuple(int(v) for v in rng.integers(200, 256, 3))
    img = Image.new("RGB", (width, height), bg)
    draw = ImageDraw.Draw(img)
    y = int(rng.integers(6, 20))
    for i in range(lines):
        size = int(rng.integers(max(12, height // 14), max(14, height // 7)))
        words = rng.choice(WORDS, size=int(rng.integers(2, 4)))
        text = " ".join(words) if i else "Dyadic 2026 " + words[0]
        x = int(rng.integers(4, max(5, width // 6)))
        draw.text((x, y), text, font=font(size), fill=tuple(int(v) for v in rng.integers(0, 70, 3)))
        y += int(size * rng.uniform(1.4, 2.0))
        if y > height - size:
            break
    return np.asarray(img)


def captcha(text: str, height: int = 64, seed: int = 0) -> np.ndarray:
    """A captcha-like image: jittered coloured characters, noise lines and dots (RGB)."""
    rng = np.random.default_rng(seed)
    f = font(44)
    w = 34 * len(text) + 30
    img = Image.new("RGB", (w, 70), tuple(int(v) for v in rng.integers(190, 256, 3)))
    draw = ImageDraw.Draw(img)
    x = 12
    for ch in text:
        glyph = Image.new("RGBA", (56, 64), (0, 0, 0, 0))
        ImageDraw.Draw(glyph).text((6, 0), ch, font=f, fill=tuple(int(v) for v in rng.integers(0, 120, 3)) + (255,))
        glyph = glyph.rotate(float(rng.uniform(-20, 20)), resample=Image.BILINEAR)
        img.paste(glyph, (x, int(rng.integers(-4, 6))), glyph)
        x += int(rng.integers(26, 36))
    for _ in range(4):
        pts = [tuple(int(v) for v in (rng.integers(0, w), rng.integers(0, 70))) for _ in range(2)]
        draw.line(pts, fill=tuple(int(v) for v in rng.integers(40, 200, 3)), width=2)
    for _ in range(150):
        px, py = int(rng.integers(0, w)), int(rng.integers(0, 70))
        draw.point((px, py), fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    width = int(img.width * height / img.height)
    return np.asarray(_resize(img, width, height))


# Vowel formants (F1, F2, F3 in Hz) of a few vowels, and the bandwidths we give them.
_VOWELS = [(730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480), (570, 840, 2410)]
_FORMANT_BW = (90, 110, 170)
_FORMANT_GAIN = (1.0, 0.6, 0.3)


def _resonator(freqs: np.ndarray, f: float, bw: float, rate: int) -> np.ndarray:
    """Frequency response of a two-pole resonator at f with bandwidth bw."""
    r = math.exp(-math.pi * bw / rate)
    z = np.exp(-2j * np.pi * freqs / rate)
    return (1 - r) / (1 - 2 * r * math.cos(2 * math.pi * f / rate) * z + r * r * z * z)


def _filter(x: np.ndarray, response: Callable[[np.ndarray], np.ndarray], rate: int) -> np.ndarray:
    # FFT filtering of one segment; segments are padded so the (short) impulse
    # responses do not wrap around.
    n = len(x) + 1024
    spec = np.fft.rfft(x, n) * response(np.fft.rfftfreq(n, 1 / rate))
    return np.fft.irfft(spec, n)[: len(x)]


def voiced(samples: int, rate: int = 16000, seed: int = 0) -> np.ndarray:
    """Synthetic speech: syllables of a short fricative noise burst followed by a vowel
    (a glottal pulse train with a falling pitch through three formants), separated by
    short pauses. Silero VAD calls it speech (a steady harmonic tone it does not).
    float32 in [-0.5, 0.5]."""
    rng = np.random.default_rng(seed)
    out = np.zeros(samples)
    pos = int(0.02 * rate)
    while pos < samples:
        n_burst = int(rng.uniform(0.02, 0.06) * rate)
        fc = rng.uniform(2500, 5000)
        burst = 0.15 * _filter(rng.standard_normal(n_burst), lambda f: _resonator(f, fc, 800, rate), rate)
        n_vowel = int(rng.uniform(0.12, 0.25) * rate)
        f0 = rng.uniform(110, 200) * np.linspace(1.1, 0.9, n_vowel)
        pulses = np.diff(np.floor(np.cumsum(f0) / rate), prepend=0.0)
        formants = _VOWELS[int(rng.integers(len(_VOWELS)))]

        def vocal_tract(f, formants=formants):
            tilt = 1 / (1 - 0.95 * np.exp(-2j * np.pi * f / rate))  # glottal spectral tilt
            peaks = zip(formants, _FORMANT_BW, _FORMANT_GAIN)
            return tilt * sum(g * _resonator(f, fr, bw, rate) for fr, bw, g in peaks)
        vowel = _filter(pulses, vocal_tract, rate) * np.sqrt(np.hanning(n_vowel))
        segment = np.concatenate([burst, 0.6 * vowel / (np.abs(vowel).max() + 1e-9)])
        end = min(samples, pos + len(segment))
        out[pos:end] += segment[: end - pos]
        pos = end + int(rng.uniform(0.03, 0.09) * rate)
    out += 0.002 * rng.standard_normal(samples)
    return (0.5 * out / np.abs(out).max()).astype(np.float32)


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, np.float64)
    return np.where(f < 1000, 3 * f / 200, 15 + np.log(np.maximum(f, 1e-9) / 1000) * 27 / math.log(6.4))


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, np.float64)
    return np.where(m < 15, 200 * m / 3, 1000 * np.exp((m - 15) * math.log(6.4) / 27))


def mel_filters(bins: int, mels: int, rate: int) -> np.ndarray:
    """[bins, mels] triangular filters evenly spaced on Slaney's mel scale from 0 Hz to
    rate/2, each scaled to unit area (librosa's and Whisper's norm='slaney')."""
    edges = _mel_to_hz(np.linspace(0, float(_hz_to_mel(rate / 2)), mels + 2))
    freqs = np.linspace(0, rate / 2, bins)[:, None]
    rising = (freqs - edges[None, :-2]) / (edges[1:-1] - edges[:-2])
    falling = (edges[None, 2:] - freqs) / (edges[2:] - edges[1:-1])
    return np.maximum(0, np.minimum(rising, falling)) * (2 / (edges[2:] - edges[:-2]))


def whisper_log_mel(audio: np.ndarray, rate: int = 16000, n_fft: int = 400, hop: int = 160,
                    mels: int = 80) -> np.ndarray:
    """Whisper's input features, as transformers' WhisperFeatureExtractor(do_normalize=True)
    computes them: the waveform scaled to zero mean and unit variance, a centred STFT
    (reflect padding, periodic Hann window), power through the mel filters, log10 floored
    8 decades below its peak, then (x + 4) / 4; the last frame is dropped.
    float32 [mels, len(audio) // hop]."""
    x = audio.astype(np.float32)
    x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
    x = np.pad(x.astype(np.float64), n_fft // 2, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop]
    power = np.abs(np.fft.rfft(frames * np.hanning(n_fft + 1)[:-1], axis=-1)) ** 2
    log = np.log10(np.maximum(power @ mel_filters(n_fft // 2 + 1, mels, rate), 1e-10)).T[:, :-1]
    log = np.maximum(log, log.max() - 8.0)
    return np.ascontiguousarray((log + 4.0) / 4.0, dtype=np.float32)


def photo(kind: str = "astronaut") -> np.ndarray:
    """A natural photo from scikit-image's bundled data (RGB uint8); a synthetic
    scene with a face-like blob if scikit-image is not installed."""
    try:
        from skimage import data
        img = getattr(data, kind)()
        if img.ndim == 2:
            img = np.stack([img] * 3, axis=-1)
        return img[..., :3].astype(np.uint8)
    except Exception:
        yy, xx = np.mgrid[0:512, 0:512]
        img = np.stack([(xx / 2) % 256, (yy / 2) % 256, ((xx + yy) / 4) % 256], -1)
        face = ((xx - 256) ** 2 / 70 ** 2 + (yy - 200) ** 2 / 90 ** 2) < 1
        img[face] = (224, 172, 140)
        return img.astype(np.uint8)


def resize(img: np.ndarray, width: int, height: int) -> np.ndarray:
    return np.asarray(_resize(Image.fromarray(img), width, height))


def letterbox(img: np.ndarray, size: int, fill: int = 114) -> np.ndarray:
    """Scale the longer side to `size` and pad the rest with `fill`, top-left aligned."""
    h, w = img.shape[:2]
    r = size / max(h, w)
    nh, nw = max(1, int(h * r)), max(1, int(w * r))
    out = np.full((size, size) + img.shape[2:], fill, np.uint8)
    out[:nh, :nw] = resize(img, nw, nh)
    return out


def crops(img: np.ndarray, count: int, seed: int = 0, min_frac: float = 0.5) -> list[np.ndarray]:
    """`count` random crops of at least `min_frac` of each side (the first is the whole image),
    for calibration sets drawn from one photo."""
    rng = np.random.default_rng(seed)
    h, w = img.shape[:2]
    out = [img]
    for _ in range(count - 1):
        ch, cw = int(h * rng.uniform(min_frac, 1)), int(w * rng.uniform(min_frac, 1))
        y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        out.append(img[y:y + ch, x:x + cw])
    return out
