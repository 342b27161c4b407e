"""What every gwspec job runs on, whichever stage it belongs to.

==================  ===========================================================================
``errors.py``       the errors a command expects (a full disk among them), one line each
``provenance.py``   library versions, configuration hashes, atomic writes, settings records
``outputs.py``      output folders and files: claimed, locked, never a file of the user's
``devices.py``      which device a process runs on (CPU, ``cuda:LOCAL_RANK``), and its set-up
``checks.py``       numbers from options and files: finite and in range, or one clear line
``cli.py``          the command-line machinery both entry points share (lazy commands,
                    one-line errors, Ctrl-C)
``lazy.py``         light packages: public names imported on first use (PEP 562)
==================  ===========================================================================

Nothing here imports ``preprocess``, ``pipeline`` or ``models``: they all import it.
"""
