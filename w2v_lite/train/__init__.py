"""Training: the shared loop (`loop`: batching, AdamW, schedule, checkpoints, exact resume, DDP), one
module per objective (`pretrain`, `ctc`) and the training command line (`cli`: `w2v-lite train`, and
`torchrun -m w2v_lite train` for DDP).
Training code may import config, lengths, model, data and asr; never teach.
"""
