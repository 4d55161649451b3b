"""Classify: topics, sentiment and public-opinion risk (jieba + scikit-learn), with reasons."""
