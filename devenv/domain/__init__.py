"""What an environment is, as data and rules with no I/O of their own: profiles and their secrets, the plan,
names, labels, connection facts, the tenancy objects of a namespace environment, what is AWS-only, and which
shared clusters devenv may use."""
