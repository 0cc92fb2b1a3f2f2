"""Teaching: the shape tables of `explain`, the figures, the notebook widgets, padding measurements and the
visualisations of pretraining and CTC. The only place that imports matplotlib or ipywidgets. It may import
anything in w2v_lite; nothing in the library imports it (the command line loads `explain`, and `figures`
only when that subcommand runs).
"""
