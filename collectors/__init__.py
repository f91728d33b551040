"""Panorama collectors: programs that produce Panorama events.

* ``panorama-monitor`` (:mod:`panorama_tui.collectors.monitor.wrapper`): wraps a command, samples its
  process tree from ``/proc`` and emits ``kickstart.inv.online`` /
  ``kickstart.inv.summary`` events; publishes ``@@@MONITORING_PAYLOAD@@@``
  blocks found on the command's stdout.
* ``panorama-darshan`` (:mod:`panorama_tui.collectors.darshan.collector`): Darshan logs to
  ``darshan.perf`` events.
* ``panorama-globus`` (:mod:`panorama_tui.collectors.globus.collector`): Globus transfer tasks to
  ``transfer.inv.go`` events.

Collectors use only the core (:mod:`panorama_tui.core.events`, the publisher); they
never import the UI.  Each module has ``main(argv=None) -> int``.
"""
