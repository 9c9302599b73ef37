"""Every key rule, pure: the key aggregate (decide/evolve), inputs, scope, directory, roster."""
