"""USAnimator: animate a still ultrasound frame with the motion of a driving clip.

Layers (see docs/ARCHITECTURE.md): ``core`` (numpy only), ``nets`` and ``engine`` (torch, no Qt),
``gui`` (PySide6 + pyqtgraph), ``cli`` / ``commands`` (no Qt).
"""

__version__ = "0.1.0"
