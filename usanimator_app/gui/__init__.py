"""The desktop window (PySide6 + pyqtgraph): a thin layer over ``core`` and ``engine``.

``app.run_gui`` sets up the QApplication and logging and opens :class:`main_window.MainWindow`,
whose tabs come from a list of factories (``main_window.default_tab_factories``). Long work
(loading a model, animating, exporting) runs in ``workers.Job`` threads; only this package imports Qt.

Importing the package applies ``compat.protect_singleton_refcounts`` (a no-op except on the
PySide6 release whose reference-count defect would otherwise abort the interpreter).
"""

from usanimator_app.gui.compat import protect_singleton_refcounts

protect_singleton_refcounts()
