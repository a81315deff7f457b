"""The Chinese help (命令帮助) of the fiscal commands: issuing, adjusting and recovering
appropriations (下达, 分解, 调整, 收回), reconciliation (对账), the appropriations held, the ledger,
reports (旬报, 月报), the budget and the year-end close (结转). Looked up through nodes.help_zh."""

from __future__ import annotations

__all__ = ["COMMANDS", "OPTIONS"]

COMMANDS: dict[str, tuple[str, str]] = {
    "allocate": (
        "向下级下达指标，或用 --from 分解收到的指标。",
        """\
向下级下达指标，或用 --from 分解收到的指标。

指标在本节点登记，并在下次同步时以签名变更集发送给接收单位。分解的金额不得超过所收指标的可用余额（指标控制）；拒绝时会说明余额。科目须在该预算年度有效（国家编码集加省级扩展科目）。

分解保持来源指标的资金性质和转移支付类型，其功能分类与来源相同或低一级。文号、接收单位、功能分类和金额与本年度已下达的某一行相同的，作为重复下达拒绝（并指出先前的指标编号），除非给出 --allow-duplicate；因此同一张表格导入两次也不会重复下达。每行最多 10,000,000,000,000.00 元。

给出 --file 时，先检查表格（CSV 或 XLSX）的每一行，并逐一列出错误行；只要有一行错误，就一行也不下达。列（英文或中文表头）：recipient、amount、func、econ、fund、doc，可选 title、year、type、project、from、direct（直达：yes/no，是/否）、indicator（指标类型）、level（预算级次）、upper_doc（上级文号）。

文号的格式为 <简称><kind>〔YYYY〕N号：简称是拓扑中本节点的简称，kind 是其公文类别之一（如 豫财教〔2026〕12号），年份为该预算年度（提前下达的可为上一年度）。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410000 allocate --to 410100 --amount 1234.56 \\
      --func 2050201 --econ 50201 --fund 111 --doc "豫财教〔2026〕12号"
  fiscalsync --home /srv/fiscalsync/410000 allocate --file allocations-2026.xlsx
""",
    ),
    "adjust": (
        "调增或调减本节点下达的指标。",
        """\
调增或调减本节点下达的指标。

调整作为新的事项登记（不覆盖任何记录），并以签名变更集发送给接收单位。分解指标的调增从所收指标的余额中扣减。调减在接收单位的回执接受后才生效；接收单位可用余额不足时拒绝调减。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410000 adjust 410000-2026-000012 \\
      --delta -100.00 --doc "豫财教〔2026〕31号"
""",
    ),
    "recover": (
        "收回本节点下达指标的未使用部分。",
        """\
收回本节点下达的指标中尚未使用的部分。

接收单位可用余额（未支出、未继续分解）不足收回金额时拒绝收回（拒收回执）；接受后才生效。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410100 recover 410100-2026-000003 \\
      --amount 5000.00 --doc "郑财预〔2026〕40号"
""",
    ),
    "reconcile": (
        "与下级对账本节点下达给它的指标。",
        """\
上下级对账：核对本节点下达给某个下级节点的指标。

双方在同一通道位置（截止点）比对各自所持的数据；仍在途的列为在途，绝不作为不符。对账请求在下次同步时发出，后续由同步轮次完成；之后双方持有同一份对账单：接收方签名答复后，由下达方签署结论。不做任何自动更正：每项不符都说明如何更正。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410000 reconcile --with 410100
  fiscalsync --home /srv/fiscalsync/410000 reconcile show --format html -o statement.html
""",
    ),
    "reconcile show": (
        "显示对账单：最新的一份，或指定 ID 的一份。",
        """\
显示一次对账的对账单：最新的一份，或指定 ID 的一份。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410000 reconcile show
  fiscalsync --home /srv/fiscalsync/410000 reconcile show 410000-R000003 --format xlsx -o s.xlsx
""",
    ),
    "appropriations": (
        "列出收到的指标（含可用余额）或下达的指标。",
        """\
列出收到的指标（含可用余额）或下达的指标。

下达的指标显示实际有效的部分（被接收单位拒收的变更集不计入），以及接收单位签名回执确认的部分。`appropriations show ID` 显示一条指标的完整历史。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410100 appropriations --received --year 2026
  fiscalsync --home /srv/fiscalsync/410000 appropriations --issued --format xlsx -o issued.xlsx
  fiscalsync --home /srv/fiscalsync/410000 appropriations --refused
""",
    ),
    "appropriations show": (
        "一条指标的完整历史：每个事项及其变更集和回执。",
        """\
一条指标的完整历史：每个事项及其变更集和回执。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410100 appropriations show 410000-2026-000012
""",
    ),
    "appropriations trace": (
        "沿层级追踪一条指标（资金追踪，用于直达资金）。",
        """\
沿层级向下追踪一条指标（资金追踪，用于直达资金），依据本节点所知：收到了什么（及上级文号），从中向下级分解了什么以及下级回执确认的部分，对它支出了多少；或越级下达时收到的抄送信息。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410100 appropriations trace 410000-2026-000012
""",
    ),
    "appropriations jurisdiction": (
        "本节点全辖从上级收到的指标，含越级下达的抄送。",
        """\
从上级进入本节点全辖的指标：本节点收到的，以及越级下达给下级节点时抄送给本节点的信息（抄送）；抄送计入全辖合计，但不计入本节点自己的余额。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410100 appropriations jurisdiction --year 2026
""",
    ),
    "ledger": (
        "本节点的支出和收入记录（报表的来源）。",
        """\
本节点的支出拨付和收入入库记录（报表的数据来源）。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410102 ledger import payments-2026-10.xlsx
""",
    ),
    "ledger add": (
        "登记一笔支出或收入。",
        """\
登记一笔支出或收入。

对某条指标的支出不得超过该指标的可用余额。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410102 ledger add --date 2026-10-15 \\
      --code 2050202 --econ 50201 --amount 3000.00 --appropriation 410100-2026-000004
""",
    ),
    "ledger import": (
        "登记 CSV 或 XLSX 文件中的全部收支，要么全部，要么全不。",
        """\
登记 CSV 或 XLSX 文件中的每一笔支出和收入，要么全部登记，要么一笔也不登记。

列（英文或中文表头）：date、direction（expenditure/revenue 或 支出/收入）、code、amount，可选 econ、appropriation、memo。每一行错误都会列出；只要有一行错误，就一笔也不登记。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410102 ledger import payments-2026-10.csv
""",
    ),
    "ledger list": (
        "按日期列出本节点登记的支出和收入。",
        """\
按日期列出本节点登记的支出和收入。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410102 ledger list --from 2026-10-01 --to 2026-10-31
""",
    ),
    "report": (
        "收支报表：旬报、月报及数据中心的汇总。",
        """\
财政收支报表：旬报和月报，以及数据中心的汇总。

报告期：2026-10（月），2026-10-D1（1 日至 10 日），2026-10-D2（11 日至 20 日），2026-10-D3（21 日至月末）。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410102 report submit 2026-10
""",
    ),
    "report generate": (
        "根据收支记录和指标生成本节点某一报告期的报表。",
        """\
根据本节点的收支记录和指标生成某一报告期的报表。

按科目编码列出收入和支出，含预算数（本级自用的指标）、本期数和累计数；在类、款两级小计；每个合计都经过校验。在 `fiscalsync report submit` 之前报表一直是草稿；再次生成会替换草稿，若已报送则生成更正（下一版本）。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410102 report generate 2026-10
  fiscalsync --home /srv/fiscalsync/410102 report generate 2026-10-D2

PERIOD 为月份（2026-10）或其中的一旬（2026-10-D1、D2、D3），与 `report submit` 和 `report show` 相同。
""",
    ),
    "report submit": (
        "把本节点的报表报送上级，并抄送数据中心。",
        """\
把本节点的报表报送上级，并抄送数据中心。

共两个签名变更集（省级只发送给数据中心）。尚无报表时先生成；要更正已报送的报表，重新生成后再报送：新版本取代旧版本，旧版本保留在历史中。有下级节点的节点还会向上级报送其全辖汇总（逐级）：本级报表加上下级报来的报表。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410102 report submit 2026-10
  fiscalsync --home /srv/fiscalsync/410100 report submit 2026-10 --scope all
""",
    ),
    "report show": (
        "显示报表，或汇总一个地区的报表（市级汇总、全省汇总）。",
        """\
显示报表，或汇总一个地区的报表（市级汇总、全省汇总）。

每种格式都以标题栏开头（标题、编制单位、报送日期、金额单位：元），列有 预算数、本期数、本月累计（旬报）、累计数、完成预算%、上年同期 和 增减%。数据中心持有全部报表，在那里 --scope all 汇总一个市及其所辖县，或全省，并列出截止时间（在 node.toml 的 [reports] 中设置）前未报送的单位。市级持有本级及所辖县的报表。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410000-dc report show 2026-10 --lang zh
  fiscalsync --home /srv/fiscalsync/410000-dc report show 2026-10 --region 410100 \\
      --format xlsx -o zhengzhou-2026-10.xlsx
  fiscalsync --home /srv/fiscalsync/410102 report show 2026-10-D2 --format html -o d2.html
""",
    ),
    "report direct": (
        "直达资金报表：下达、收到、分配下级、支出和结余。",
        """\
直达资金报表：直达资金的下达数、接收数、分配下级数、支出数和结余。

本级持有的每条直达资金指标（收到的，或从本级预算下达的）一行，最后是合计；各级都用自己的数据运行。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410100 report direct --year 2026
  fiscalsync --home /srv/fiscalsync/410100 report direct --format xlsx -o direct.xlsx
""",
    ),
    "budget": (
        "本级预算：按科目编码的收入和支出预算。",
        """\
本节点的本级预算：按科目编码的收入和支出预算行。

它们是本节点报表的预算数列，包括收入，与本节点持有的指标并列。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410102 budget import budget-2026.xlsx --year 2026
""",
    ),
    "budget import": (
        "用 FILE（.csv 或 .xlsx）替换本节点某一年度的预算行。",
        """\
用 FILE（.csv 或 .xlsx）中的预算行替换本节点某一年度的预算行。

列：section（收支：收入/支出）、code（科目编码）、amount（金额，元）。错误行一次全部列出，只有全部正确才写入；再次导入同一文件不会有任何变化。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410102 budget import budget-2026.csv --year 2026
""",
    ),
    "budget list": (
        "本节点某一年度的预算行，收入在前，按科目编码排列。",
        """\
本节点某一年度的预算行，收入在前，按科目编码排列。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410102 budget list --year 2026
""",
    ),
    "year": (
        "年终结转：未用余额结转或收回。",
        """\
年终结转：未使用的余额结转下年或收回。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410102 year close 2026
  fiscalsync --home /srv/fiscalsync/410100 year close 2026 --accept 410102 \\
      --doc "郑财预〔2027〕5号"
""",
    ),
    "year close": (
        "在本节点结束 YEAR 年度，或接受下级的年终结转。",
        """\
在本节点结束 YEAR 年度，或接受下级节点的年终结转。

不给 --accept 时：向每个下达单位发送一份签名说明，列出从它收到的 YEAR 年度每条指标的可用余额；此后本节点不再对 YEAR 年度的指标支出或分解。一个节点要在它下达了 YEAR 年度指标的各下级节点之后结束（先县，后市），且其下达的内容仍在途时不能结束。

给出 --accept CODE --doc 文号 时：收回 CODE 说明中的每项余额；[year] close 为 "carry"（结转，默认）时，在同一事务内把每项余额重新下达为 YEAR+1 年度、指标类型为 结转 的指标，并与原指标关联；为 "recover" 时只收回，不再下达。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410102 year close 2026
  fiscalsync --home /srv/fiscalsync/410100 year close 2026 --accept 410102 \\
      --doc "郑财预〔2027〕5号"
""",
    ),
    "year list": (
        "列出本节点的年终结转说明：报送上级的和下级报来的。",
        """\
列出本节点的年终结转说明：报送上级的，以及从下级收到的。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410100 year list --year 2026
""",
    ),
}

OPTIONS: dict[tuple[str, str], str] = {
    ("allocate", "--to"): "接收单位的节点代码（须为下级）。",
    ("allocate", "--amount"): "金额（元），最多两位小数，如 1234.56。",
    ("allocate", "--func"): "功能分类，7 位。",
    ("allocate", "--econ"): "经济分类，5 位。",
    ("allocate", "--fund"): "资金性质，如 111。",
    ("allocate", "--doc"): "本级文号。",
    ("allocate", "--title"): "指标名称。",
    ("allocate", "--year"): "预算年度（默认：本年度）。",
    ("allocate", "--type"): "转移支付类型：general 一般性、special 专项 或 shared 共同财政事权。",
    ("allocate", "--direct"): "是否直达资金（默认：否；分解保持来源指标的标记）。",
    (
        "allocate",
        "--indicator",
    ): "指标类型：annual 年初预算、additional 追加 或 advance 提前下达（其文号可为上一年度）。",
    ("allocate", "--level"): "预算级次（默认：接收单位的级次）。",
    (
        "allocate",
        "--upper-doc",
    ): "上级文号：本次下达所依据的上级来文，如中央的 财预〔2026〕3号（分解沿用来源指标的文号）。",
    ("allocate", "--project"): "项目编码。",
    ("allocate", "--from"): "分解这条收到的指标。",
    ("allocate", "--file"): "改为下达 CSV 或 XLSX 文件中的每一行（要么全部，要么全不）。",
    (
        "allocate",
        "--allow-duplicate",
    ): "即使相同文号、接收单位、功能分类和金额已经下达过，也下达这一行。",
    ("adjust", "--delta"): "调整金额（元）：正数调增，负数调减。",
    ("adjust", "--doc"): "调整的文号。",
    ("recover", "--amount"): "要收回的金额（元）。",
    ("recover", "--doc"): "收回的文号。",
    ("reconcile", "--with"): "要与之对账的下级节点。",
    ("reconcile", "--full"): "由双方的记录重新计算其哈希摘要。",
    ("reconcile", "--wait"): "运行本地省级网络的同步轮次，直到对账完成。",
    ("reconcile show", "--all"): "改为列出全部对账。",
    ("reconcile show", "--format"): "table 在终端显示；csv、xlsx、json，或可打印的 html 对账单。",
    ("reconcile show", "--output"): "输出文件。",
    ("appropriations", "--issued"): "本节点下达的指标。",
    ("appropriations", "--received"): "本节点收到的指标（默认）。",
    ("appropriations", "--refused"): "被接收单位或本节点拒收的指标变更集及其原因。",
    ("ledger add", "--date"): "支出或收入的日期，如 2026-10-15。",
    ("ledger add", "--code"): "功能分类科目（支出）或收入分类科目（收入）。",
    ("ledger add", "--amount"): "金额（元），如 1234.56。",
    ("ledger add", "--econ"): "经济分类，5 位。",
    ("ledger add", "--appropriation"): "所支用的指标。",
    ("ledger add", "--memo"): "摘要。",
    ("ledger list", "--from"): "起始日期，如 2026-10-01。",
    ("ledger list", "--to"): "截止日期（含当日）。",
    ("ledger list", "--appropriation"): "只列对该指标的支出。",
    ("report submit", "--scope"): "all：下级报表变化后，重新向上级报送本节点的全辖汇总。",
    ("report show", "--region"): "哪个地区的报表（默认：本节点；在数据中心为全省）。",
    (
        "report show",
        "--scope",
    ): "own：该地区的本级报表；all：其全辖汇总。默认：数据中心为 all，其他节点为 own。",
    (
        "report show",
        "--format",
    ): "text 在终端显示（table 相同）；csv、xlsx、html 或 json 输出到文件。",
    ("report direct", "--year"): "只列此年度的指标（默认：所有年度）。",
    ("year close", "--accept"): "接受此下级节点的年终结转说明（在下达单位运行）。",
    ("year close", "--doc"): "与 --accept 同用：下一年度结转下达的文号。",
}
