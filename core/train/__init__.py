"""Training: one trainer per loop (``iqa``: the MOS-regressing seed models and IFQA's GAN, ``tinyfqnet``,
``robust_face``), run files as data (``config``), resumable state (``state``) and the release pipeline (``defaults``)."""
