"""The exit codes of every command, as cron, systemd and container runtimes read them."""

EXIT_OK = 0
# Something needs a person: a feed that cannot be read, a toot the server refused.
EXIT_FAILED = 1
# The command line, the configuration or the state file is unusable.
EXIT_USAGE = 2
# Worth trying again later (sysexits' EX_TEMPFAIL): network trouble, a rate limit, a lock.
EXIT_TEMPFAIL = 75
# Ctrl-C pressed twice: the shell's convention, 128 + SIGINT.
EXIT_INTERRUPTED = 130
