"""Live labs (`lab up` ... `lab down`): one variant built and kept running by a detached keeper.

The keeper (lab.live.keeper) owns the deployment and journals it like a run, with one more
record, `lab`, naming it; the journal is the registry (lab.live.registry). Shells, commands,
captures and steps enter the nodes from outside (lab.live.enter), as a run's steps do.
"""
