"""Containers, for any stage: the one way to reach the Docker engine (:mod:`.engine`),
reproducible build contexts (:mod:`.context`) and local Debian base images made with
debootstrap (:mod:`.rootfs`). The wheel stage builds in them, the images stage builds
them, release tests run in them; settings: :mod:`.settings` (``[tool.build_support.rootfs]``).
"""
