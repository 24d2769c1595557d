"""Skills bank (intervention units, skills, versions, retrieval): arrives with the skills-bank issue."""

__all__: list[str] = []
