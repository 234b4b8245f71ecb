"""Running an installation: which of its processes are alive (``presence``), and its backup
sets — made, checked, restored and thinned out (``backup_set``)."""
