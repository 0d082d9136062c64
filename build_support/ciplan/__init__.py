"""The CI plan: changed-path selection that renders the Buildkite pipeline and the
GitHub Actions workflow (``nox -s ci-plan``). See docs/ci.md.

Modules: :mod:`.rules` (Ray-format rules files), :mod:`.plan` (settings, steps,
selection), :mod:`.changes` (the changed files), :mod:`.render` (the renderings),
:mod:`.runlocal` (``--run-local``), :mod:`.cli` (the stage).
"""
