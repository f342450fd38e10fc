"""Evaluation: the paper's protocols (``protocol``), image/video metrics (``metrics``) and the
offline FID Inception-v3 (``fid_inception``) and FVD I3D (``i3d``) feature networks."""
