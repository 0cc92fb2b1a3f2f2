"""Training: the shared loop (`loop`: batching, AdamW, schedule, checkpoints, exact resume, DDP), one
module per objective (`pretrain`, `ctc`) and the training command line (`cli`, also `python -m w2v_lite.train`).
Training code may import config, lengths, model, data and asr; never teach.
"""
