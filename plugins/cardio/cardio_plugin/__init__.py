"""Cardiac function from cine short-axis MR: the ``cardio`` expert module.

The module (:mod:`cardio_plugin.module`) segments the left-ventricular blood pool, the
left-ventricular myocardium and the right-ventricular blood pool on every phase of a cine
short-axis stack and measures volumes, ejection fractions and myocardial mass. The network is
trained on synthetic cine stacks from :mod:`cardio_plugin.synth`; the training and evaluation
scripts are :mod:`cardio_plugin.train` and :mod:`cardio_plugin.evaluate`.

Label values (the manifest's segment order): 1 LV blood pool, 2 LV myocardium, 3 RV blood pool.
"""

LV_BLOOD_POOL = 1
LV_MYOCARDIUM = 2
RV_BLOOD_POOL = 3
N_CLASSES = 4  # background and the three structures
