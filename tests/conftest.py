"""Shared test fixtures. Test folders mirror the package: tests/model, tests/data, tests/train, tests/asr,
tests/teach; tests/browser drives a notebook in headless Chromium. Helpers that compare against
transformers live in `hf_utils.py` beside this file (pytest puts this folder on sys.path)."""
