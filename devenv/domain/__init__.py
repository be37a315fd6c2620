"""What an environment is, as data and rules: profiles and their secrets, the plan, names, labels, connection
facts, the tenancy objects of a namespace environment, what is AWS-only, and which shared clusters devenv may
use. The few facts they read (the git branch and commit, whether devenv runs in a pod) come through
devenv.clients; nothing here creates anything."""
