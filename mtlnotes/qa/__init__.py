"""Multi-head question answering (He et al., ICANN 2021): retrieval, a shared encoder, three heads, CIDF.

Modules: :mod:`~mtlnotes.qa.retrieval` (BM25 sentence retrieval with the shared-non-stop-word rule, §3.2),
:mod:`~mtlnotes.qa.cidf` (Eqs. 2–7), :mod:`~mtlnotes.qa.heads` (§3.3, Eq. 1), :mod:`~mtlnotes.qa.encoders`,
:mod:`~mtlnotes.qa.model` (Fig. 2), :mod:`~mtlnotes.qa.train` (joint training with MQL / RRBS, §3.5),
:mod:`~mtlnotes.qa.tqa_pipeline` (TQA lessons → encoded questions) and :mod:`~mtlnotes.qa.digit_questions`
(the offline question types built from MNIST).
"""
