"""Course tooling for dat_edu: run, generate, check and grade the notebooks.

* :mod:`dat_edu.course.execute`   re-execute notebooks in place (``python -m dat_edu.course.execute``)
* :mod:`dat_edu.course.exercises` generate ``exercises/`` from ``solutions/`` (``python -m dat_edu.course.exercises``)
* :mod:`dat_edu.course.checks`    helpers for exercise check cells (``with part(1, "name"): ...``)
* :mod:`dat_edu.course.grade`     grade a folder of submissions (``python -m dat_edu.course.grade``)

Authoring conventions for solution notebooks are in the docstring of
:mod:`dat_edu.course.exercises`.
"""
