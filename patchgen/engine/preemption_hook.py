"""Stopping cleanly when a cluster pre-empts the job: a checkpoint at the end of the step."""
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from functools import partial
from multiprocessing.synchronize import Event as EventType
from types import FrameType

from mmengine.dist import broadcast_object_list
from mmengine.hooks import Hook

from patchgen.registry import HOOKS

from .checkpoint_hook import save_checkpoint_now

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)


class CatchingFlag:
    """Whether a :class:`PreemptionHook` catches the stop signals in the main process (during
    training), shared with DataLoader workers through a multiprocessing Event made on first
    request, from the spawn context so that workers started by any method can receive it."""

    def __init__(self) -> None:
        self.on = False
        self._event: EventType | None = None

    def set(self, on: bool) -> None:
        """Say whether the stop signals are caught now (the Event follows, if made)."""
        self.on = on
        if self._event is not None and on:
            self._event.set()
        elif self._event is not None:
            self._event.clear()

    def event(self) -> EventType:
        """The Event to hand to workers: set exactly while ``on``."""
        if self._event is None:
            self._event = multiprocessing.get_context('spawn').Event()
            self.set(self.on)
        return self._event


CATCHING = CatchingFlag()


def leave_stop_signals_to_main(worker_id: int, catching: EventType,
                               then: Callable[[int], None] | None = None) -> None:
    """A DataLoader worker's init: while ``catching`` is set, ignore the stop signals; then
    run ``then(worker_id)``.

    SLURM signals every process of a job step, and Ctrl-C the whole foreground
    group: a worker killed mid-step makes the main process fail before the
    :class:`PreemptionHook` saves. Outside training a stop signal acts as usual,
    so the SIGTERM with which multiprocessing ends the workers at exit still does
    (as it does on a worker that a signal finds still starting, before this init).
    """
    for number in STOP_SIGNALS:
        signal.signal(number, partial(_unless_catching, catching))
    if then is not None:
        then(worker_id)


def _unless_catching(catching: EventType, number: int, frame: FrameType | None) -> None:
    """A worker's stop-signal handler: nothing while the main process catches the signal,
    else the signal's default action."""
    if not catching.is_set():
        signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)


@HOOKS.register_module()
class PreemptionHook(Hook):
    """Saves a checkpoint and ends training (exit status 0) when the job is asked to stop.

    SIGTERM and SIGUSR1 (what SLURM and Kubernetes send before they kill a job)
    and a first SIGINT (Ctrl-C) only set a flag; at the end of the current
    optimizer step, after the EMA update and the other hooks of the step, the
    run saves a checkpoint through the checkpoint hook (so ``last_checkpoint``
    names it and ``--resume`` continues exactly from it), logs one line and
    stops. A second SIGINT raises ``KeyboardInterrupt`` at once. Under torchrun
    every rank uses rank 0's flag, so all ranks stop after one step.

    The handlers are installed in ``before_train`` (in the main thread only)
    and the previous ones restored in ``after_train``.
    """

    priority = 'LOWEST'  # after every other hook of the step, the checkpoint hook included

    def __init__(self) -> None:
        self.received: str | None = None  # the name of the first stop signal
        self.previous: dict[int, object] = {}  # signal -> the handler to restore

    def before_train(self, runner) -> None:
        if threading.current_thread() is not threading.main_thread():
            runner.logger.warning('Training runs outside the main thread: stop signals are not '
                                  'caught, so pre-emption saves no checkpoint.')
            return
        self.received = None
        self.previous = {number: signal.signal(number, self.handle) for number in STOP_SIGNALS}
        CATCHING.set(True)

    def handle(self, number: int, frame: FrameType | None) -> None:
        """Remember the first stop signal; a second SIGINT stops at once."""
        if number == signal.SIGINT and self.received == 'SIGINT':
            self.restore()
            raise KeyboardInterrupt
        if self.received is None:
            self.received = signal.Signals(number).name
            if number == signal.SIGINT:  # someone at a terminal: say what happens next
                os.write(2, b'Interrupted: stopping after this step with a checkpoint; '
                            b'press Ctrl-C again to stop at once.\n')

    def restore(self) -> None:
        """Put back the handlers that were installed before training."""
        CATCHING.set(False)
        for number, handler in self.previous.items():
            signal.signal(number, handler)
        self.previous = {}

    def after_train_iter(self, runner, batch_idx: int, data_batch: dict | None = None,
                         outputs: dict | None = None) -> None:
        shared = [self.received]
        broadcast_object_list(shared)  # rank 0's flag: every rank stops after the same step
        if shared[0] is None:
            return
        step = runner.iter + 1
        path = save_checkpoint_now(runner, step)
        runner.logger.info(f'{shared[0]} received: stopped after step {step} of '
                           f'{runner.max_iters} with checkpoint {path}; continue with '
                           f'`patchgen train CONFIG --resume`.')
        runner.train_loop.stop_training = True

    def after_train(self, runner) -> None:
        self.restore()
