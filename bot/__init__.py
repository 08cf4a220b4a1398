"""linli (邻里): a chatbot for running residential compounds together."""
