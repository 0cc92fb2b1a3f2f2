"""What goes into the model: audio I/O (`audio`: load any file at 16 kHz mono, pad a batch, normalise),
datasets (`dataset`: a folder of clips with transcripts), length bucketing (`batching`) and the character
tokenizer (`tokenizer`). Data code may import config and lengths only: never model, train, asr or teach.
"""
