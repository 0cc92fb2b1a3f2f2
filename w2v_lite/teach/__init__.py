"""Teaching: the shape tables of `explain`, the figures, the notebook widgets, padding measurements, attention
weights, the exercises' checks (`check`), and the visualisations of pretraining, CTC, long audio and cost. The
only place that imports matplotlib or ipywidgets. It may import anything in w2v_lite; nothing in the library
imports it (the command line loads `explain`, and `figures` only when that subcommand runs).
"""
