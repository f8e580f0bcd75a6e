"""The demo project's defs folder: one ModelGraph component per sub-folder."""
