"""The built-in pack: the two processes of Fenglin Street, beside the engine, not inside it.

workflows/  four_list.yaml, raise_hand.yaml (their KPIs in their ``kpis:`` blocks), their
            notice templates, the sample org.yaml
demo        a quarter of Fenglin Street simulated on a virtual clock

Anything that names four_list or raise_hand lives here; the engine names no workflow.
"""
