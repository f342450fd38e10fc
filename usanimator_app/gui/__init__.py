"""The desktop window (PySide6 + pyqtgraph): a thin layer over ``core`` and ``engine``.

``app.run_gui`` sets up the QApplication and logging and opens :class:`main_window.MainWindow`,
whose tabs come from a list of factories (``main_window.default_tab_factories``). Long work
(loading a model, animating, exporting) runs in ``workers.Job`` threads; only this package imports Qt.

PySide6 6.12.0 is excluded in pyproject.toml: on Python 3.11 it loses references to ``None`` and
``True`` (one per ``Signal.emit()`` / Python ``paintEvent``) until the interpreter aborts.
"""
