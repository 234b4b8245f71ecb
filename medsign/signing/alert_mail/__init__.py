"""E-mail to the МО's operators about failed and stalled signing transactions: the pass
(``service``) and the standing runner item that runs it (``flow``)."""
