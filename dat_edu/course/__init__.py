"""Course tooling for dat_edu: run, generate, check and grade the notebooks.

* :mod:`dat_edu.course.execute`   re-execute notebooks in place (``python -m dat_edu.course.execute``)
* :mod:`dat_edu.course.exercises` generate ``exercises/`` from ``solutions/`` (``python -m dat_edu.course.exercises``)
* :mod:`dat_edu.course.checks`    helpers for exercise check cells (``with part(1, "name"): ...``);
  ``forbid_calls`` / ``record_calls`` live in :mod:`~dat_edu.course.forbid`, on top of
  :mod:`~dat_edu.course.intercept`
* :mod:`dat_edu.course.grade`     grade a folder of submissions (``python -m dat_edu.course.grade``):
  :mod:`~dat_edu.course.match` pairs notebooks with exercises, :mod:`~dat_edu.course.gradebook`
  writes the results, :mod:`~dat_edu.course.forkserver` starts a :mod:`~dat_edu.course.judge` per
  notebook, which plans it (:mod:`~dat_edu.course.submission`, :mod:`~dat_edu.course.scan`), runs it in
  a :mod:`~dat_edu.course.sandbox` under the :mod:`~dat_edu.course.harness` and talks to it through
  :mod:`~dat_edu.course.remote` over :mod:`~dat_edu.course.wire` / :mod:`~dat_edu.course.codec`;
  :mod:`~dat_edu.course.review` keeps the executed notebook
* :mod:`dat_edu.course.gradebench` benchmark the grader (``python -m dat_edu.course.gradebench``)

Authoring conventions for solution notebooks are in the docstring of
:mod:`dat_edu.course.exercises`.
"""
