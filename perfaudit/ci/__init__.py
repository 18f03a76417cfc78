"""`perfaudit ci`: run the scenarios of a config, hold them to budgets and a baseline."""
