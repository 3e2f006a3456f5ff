"""Open-set identification (1:N): how likely a stranger is to be taken for someone.

- ``tail``: the survival function of impostor similarities, fitted with an
  exponential tail beyond the data (peaks over threshold).
- ``policy``: a target false-positive identification rate (FPIR per search) turned
  into a threshold for the size of the gallery searched.
- ``selfsearch``: the gallery searched against itself, the calibration facedb keeps
  up to date without any extra data.
"""
