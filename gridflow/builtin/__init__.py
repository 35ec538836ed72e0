"""The built-in pack: the two processes of Fenglin Street, beside the engine, not inside it.

workflows/  four_list.yaml, raise_hand.yaml, their notice templates, the sample org.yaml
kpis        the KPIs of the four-list method and the two-way raise hand
catalogue   what each of those figures is called (zh-CN, en) and how it is counted
demo        a quarter of Fenglin Street simulated on a virtual clock

Anything that names four_list or raise_hand lives here; the engine names no workflow.
"""
