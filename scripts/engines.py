"""Speak a text with flite or festival, the other two Debian synthesisers: -> (L,) float32 at 16 kHz.

Install (Debian/Ubuntu; the festvox packages are the English voices Debian ships):

    apt-get install espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts

`festvox-kallpc8k` and `festvox-kdlpc8k` are the same two speakers at 8 kHz, so they add no voice.
Used by scripts/make_corpus.py (the `engines` and `engines_test` splits) and scripts/make_eval_set.py.

Accented English (the `accents` split): festival's voices for other languages, ten more speakers (a woman and
a man in Italian, four Czech voices including a child, two Finnish, one Russian, one Catalan), read the 20
words respelled in their own language's spelling ("two" -> "tu", "eight" -> "ejt"), so each says English
words with its own language's sounds and prosody, as a learner would:

    apt-get install festvox-italp16k festvox-itapc16k festvox-czech-dita festvox-czech-krb \
        festvox-czech-machac festvox-czech-ph festvox-suopuhe-lj festvox-suopuhe-mv festvox-ru festvox-ca-ona-hts

A fourth engine, SVOX Pico (the `pico` split): Android's former synthesiser, hidden-Markov-model voices built
from recordings of six women (American and British English, German, French, Spanish, Italian), from PyPI
rather than Debian (its lingware is Apache-2.0 but Debian ships it only in non-free); the other four voices
read the words respelled, as the festival accents do. It builds from source (a C compiler):

    pip install ttspico==0.3.2
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from w2v_lite.data.audio import SAMPLING_RATE, resample

# flite's built-in voices (`flite -lv`) but awb_time, a limited-domain voice that only says clock times.
# kal is an 8 kHz diphone voice (resampled to 16 kHz), kal16 the same speaker at 16 kHz.
FLITE_VOICES = ["kal", "kal16", "awb", "rms", "slt"]
# festival voice name -> the Scheme call that selects it (directories under /usr/share/festival/voices)
FESTIVAL_VOICES = {
    "kal": "(voice_kal_diphone)",
    "ked": "(voice_ked_diphone)",
    "slthts": "(voice_cmu_us_slt_arctic_hts)",
}
FEMALE = {"slt", "slthts"}  # the rest are male: their pitch ranges differ
INSTALL = "apt-get install espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts"

# festival's other-language voices: name -> (the Scheme call that selects it, its language)
ACCENT_VOICES = {
    "it-lp": ("(voice_lp_diphone)", "it"), "it-pc": ("(voice_pc_diphone)", "it"),
    "cs-dita": ("(voice_czech_dita)", "cs"), "cs-krb": ("(voice_czech_krb)", "cs"),
    "cs-machac": ("(voice_czech_machac)", "cs"), "cs-ph": ("(voice_czech_ph)", "cs"),
    "fi-lj": ("(voice_suo_fi_lj_diphone)", "fi"), "fi-mv": ("(voice_hy_fi_mv_diphone)", "fi"),
    "ru-nsh": ("(voice_msu_ru_nsh_clunits)", "ru"), "ca-ona": ("(voice_upc_ca_ona_hts)", "ca"),
}
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
WORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]  # the corpus' 20 words
# each word as a speaker of the language would write what they hear, in that language's spelling
RESPELLINGS = {
    "it": "ziro uan tu tri for faiv sics seven eit nain ies nou ap daun left rait on of stop gou",
    "cs": "zirou uan tu tri for fajv siks sevn ejt najn jes nou ap daun left rajt on of stop gou",
    "fi": "siirou uan tuu trii foor faiv siks seven eit nain jes nou ap daun left rait on of stop gou",
    "ru": "зироу уан ту три фор файв сикс сэвэн эйт найн йес ноу ап даун лефт райт он оф стоп гоу",  # noqa: RUF001
    "ca": "zirou uan tu tri for faiv sics seven eit nain ies nou ap daun left rait on of stop gou",
    "de": "siro wann tu sri for faif ssiks ssewen eit nain jess nou ap daun left rait on off stopp gou",
    "fr": "ziro ouane tou tri for faïve sixe sévène eïte naïne yesse nô eup daoune lefte raïte onne offe stoppe gô",
    "es": "síro uan tu tri for faif sics séven eit nain yes nou ap daun left rait on of stop gou",
}
# SVOX Pico's voices (ttspico language names) -> the language whose spelling they read
PICO_VOICES = {"en-US": "en", "en-GB": "en", "de-DE": "de", "fr-FR": "fr", "es-ES": "es", "it-IT": "it"}
PICO_INSTALL = "pip install ttspico==0.3.2"
_LANGUAGE_DIRS = {"it": "italian", "cs": "czech", "fi": "finnish", "ru": "russian", "ca": "catalan"}
ACCENT_INSTALL = ("apt-get install festvox-italp16k festvox-itapc16k festvox-czech-dita festvox-czech-krb "
                  "festvox-czech-machac festvox-czech-ph festvox-suopuhe-lj festvox-suopuhe-mv festvox-ru "
                  "festvox-ca-ona-hts")


def respell(text: str, voice: str) -> str:
    """English `text` (words of WORDS) in the spelling of the language of `voice` (an ACCENT_VOICES or
    PICO_VOICES name): "two go" -> "tu gou"; English voices get `text` back."""
    language = ACCENT_VOICES[voice][1] if voice in ACCENT_VOICES else PICO_VOICES[voice]
    if language == "en":
        return text
    table = dict(zip(DIGITS + WORDS, RESPELLINGS[language].split(), strict=True))
    unknown = [w for w in text.split() if w not in table]
    if unknown:
        raise ValueError(f"no respelling for {unknown}: accented voices say only the 20 corpus words")
    return " ".join(table[w] for w in text.split())


def _exe(name: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        raise RuntimeError(f"{name} not found; install the synthesisers with `{INSTALL}`")
    return exe


def _read(wav: Path) -> np.ndarray:
    data, sr = sf.read(wav, dtype="float32")
    if data.ndim == 2:
        data = data.mean(axis=1)
    return resample(data, sr, SAMPLING_RATE)


def flite_say(text: str, voice: str, stretch: float = 1.0, f0: float | None = None) -> np.ndarray:
    """`flite -voice VOICE` -> (L,) float32 at 16 kHz. `stretch` > 1 speaks slower; `f0` is the mean pitch (Hz)."""
    cmd = [_exe("flite"), "-voice", voice, "-t", text, "--setf", f"duration_stretch={stretch:.3f}"]
    if f0 is not None:
        cmd += ["--setf", f"int_f0_target_mean={f0:.1f}"]
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "say.wav"
        subprocess.run([*cmd, "-o", str(wav)], check=True, capture_output=True)
        return _read(wav)


def _festival_settings(voice: str, stretch: float, f0: float | None) -> list[str]:
    evals = [f"(Parameter.set 'Duration_Stretch {stretch:.3f})"]
    if f0 is not None and voice != "slthts":
        evals.append(f"(set! int_lr_params '((target_f0_mean {f0:.1f}) (target_f0_std {f0 * 0.14:.1f}) "
                     "(model_f0_mean 170) (model_f0_std 34)))")
    return evals


def festival_batch(voice: str, jobs: list[tuple[str, float, float | None]]) -> list[np.ndarray]:
    """Many (text, stretch, f0) with one festival voice, in ONE festival process -> (L_i,) float32 at 16 kHz.

    Loading a voice takes most of a `text2wave` call (the HTS voice is 300 MB), so the corpus script batches.
    `stretch` sets Duration_Stretch (> 1 slower). `f0` moves the diphone voices' target mean pitch (Hz) through
    int_lr_params; the HTS voice has its own pitch and duration models and ignores both."""
    accent = voice in ACCENT_VOICES  # an other-language voice: respelled text, its own pitch
    if accent:
        require("accents")
    with tempfile.TemporaryDirectory() as tmp:
        lines = [ACCENT_VOICES[voice][0] if accent else FESTIVAL_VOICES[voice]]
        for i, (text, stretch, f0) in enumerate(jobs):
            text, f0 = (respell(text, voice), None) if accent else (text, f0)
            if any(c in text for c in '"\\'):
                raise ValueError(f"text must not contain quotes or backslashes: {text!r}")
            lines += _festival_settings(voice, stretch, f0)
            lines.append(f'(utt.save.wave (utt.synth (Utterance Text "{text}")) "{tmp}/{i}.wav" \'riff)')
        script = Path(tmp) / "say.scm"
        script.write_text("\n".join(lines) + "\n")
        subprocess.run([_exe("festival"), "-b", str(script)], check=True, capture_output=True)
        return [_read(Path(tmp) / f"{i}.wav") for i in range(len(jobs))]


def festival_say(text: str, voice: str, stretch: float = 1.0, f0: float | None = None) -> np.ndarray:
    """festival with FESTIVAL_VOICES[voice] -> (L,) float32 at 16 kHz (see `festival_batch`)."""
    return festival_batch(voice, [(text, stretch, f0)])[0]


def require(engine: str) -> None:
    """Raise RuntimeError, naming the install line, unless `engine` (flite, festival, accents or pico) is
    installed: checked before a split's old clips are removed, so a missing engine deletes nothing."""
    if engine in ("flite", "festival"):
        _exe(engine)
    elif engine == "accents":
        _exe("festival")
        missing = [v for v, (_, lang) in ACCENT_VOICES.items()
                   if not Path(f"/usr/share/festival/voices/{_LANGUAGE_DIRS[lang]}").is_dir()]
        if missing:
            raise RuntimeError(f"festival voices {', '.join(missing)} not found; install them with `{ACCENT_INSTALL}`")
    elif engine == "pico" and importlib.util.find_spec("ttspico") is None:
        raise RuntimeError(f"SVOX Pico not installed; install it with `{PICO_INSTALL}`")


def pico_say(text: str, voice: str, rate: int = 100, pitch: int = 100) -> np.ndarray:
    """SVOX Pico's PICO_VOICES[voice] says `text` (respelled unless English) -> (L,) float32 at 16 kHz.
    `rate` and `pitch` are percentages of the voice's own (rate > 100 faster; pitch 50-200)."""
    require("pico")
    import ttspico  # only the corpus script needs it: not in requirements.txt
    engine = ttspico.TtsEngine(voice)
    engine.rate, engine.pitch = rate, pitch
    engine.volume = 30  # at its default 100 Pico clips its own peaks (hundreds of samples at +-32767)
    pcm = engine.speak(respell(text, voice))
    return np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0


def draw_style(voice: str, rng: np.random.Generator, wide: bool = False) -> tuple[float, float]:
    """A random (duration stretch, mean pitch in Hz) for `voice`: stretch uniform in 0.8-1.3 (0.7-1.5 if
    `wide`), pitch 150-230 Hz for the female voices and 80-140 Hz for the male ones."""
    lo, hi = (0.7, 1.5) if wide else (0.8, 1.3)
    stretch = float(rng.uniform(lo, hi))
    return stretch, float(rng.uniform(150, 230) if voice in FEMALE else rng.uniform(80, 140))


def engine_say(engine: str, voice: str, text: str, stretch: float = 1.0, f0: float | None = None) -> np.ndarray:
    """`text` by ENGINE (flite or festival) and VOICE: -> (L,) float32 at 16 kHz."""
    if engine == "flite":
        return flite_say(text, voice, stretch, f0)
    if engine == "festival":
        return festival_say(text, voice, stretch, f0)
    raise ValueError(f"engine must be 'flite' or 'festival', got {engine!r}")
