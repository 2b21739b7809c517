"""How long an integration test waits for an event before it calls it a hang.

Every wait in these tests is for an event: a state file says "running", a process
exits, a line appears on a terminal. The limit only ends a hang; it is not a speed.
Under qemu's TCG on a loaded 2-core host (`make test-v2`) a start that takes 0.1 s
here takes several seconds, so a limit of a few seconds failed there while nothing
was wrong. How fast minictr is belongs to bench/ (`make bench`), not to these tests.
"""

#: Seconds before a wait for an event is a hang (a test that passes never waits this long).
HANG_S = 120.0
