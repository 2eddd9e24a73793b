"""The fixed questions every latency measurement asks, in this order.

A mix like a clinic's chat box sees: mostly questions the library answers (in clinical and in lay
words, some naming drugs), a personal decision, a drug the library does not cover, one urgent
warning sign and two requests that are not about MS.
"""

QUESTIONS: tuple[str, ...] = (
    "What helps with MS fatigue?",
    "Does intrathecal methotrexate work for progressive MS?",
    "What is azathioprine and does it reduce relapses?",
    "Is iron in the thalamus linked to disability in secondary progressive MS?",
    "Is remyelination therapy a cure for MS?",
    "How can lifestyle changes slow the progression of MS?",
    "What are disease-modifying therapies?",
    "What side effects do the injectable MS drugs have?",
    "Can physical therapy help with walking problems?",
    "How should epilepsy episodes be managed during MS treatment?",
    "Does cognitive behavioural therapy help with low mood in MS?",
    "my legs feel heavy and I'm always tired, what can I do",
    "How are relapses treated?",
    "What is precision medicine in MS research?",
    "Are support groups helpful for people with MS?",
    "Should I stop taking my ocrevus?",
    "What do the studies say about ocrelizumab?",
    "I suddenly can't see properly out of one eye since this morning",
    "What's the weather like tomorrow?",
    "Write me a poem about cats",
)
