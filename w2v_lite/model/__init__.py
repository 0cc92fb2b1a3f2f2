"""The network: everything with weights, in the order a waveform flows through it.

`feature_encoder` (`FeatureEncoder`: conv stack, (B, L) -> (B, 512, T)), `projection` ((B, T, 512) ->
(B, T, H)), `masking` (span masks and negatives), `context` (`ContextNetwork`: positional conv + transformer),
`wav2vec2` (`Wav2Vec2Model`, sample_lengths -> frame_lengths -> frame_mask threaded through every stage),
`quantizer` and `pretraining` (the contrastive objective), `ctc` (the CTC head), `initialization`
(transformers' init) and `checkpoints` (safe loading and saving); for inference, `fast` (int8, compile),
`export` (ONNX graphs) and `runtime` (ONNX Runtime behind the model's call). Model code imports only
`w2v_lite.config`, `w2v_lite.errors`, `w2v_lite.lengths` and other model modules: never data, train, asr or
teach.
"""
