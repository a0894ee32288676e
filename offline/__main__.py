from offline.cli import entry

entry()
