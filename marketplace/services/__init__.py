"""Marketplace write operations. Views, serializers, admin actions and tasks call these, nothing else."""
