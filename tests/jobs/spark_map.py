"""rdd.map(f) where f refers to a model (a lock, a lambda, a generator), on local Spark."""

from models import Model
from pyspark import SparkConf, SparkContext

if __name__ == "__main__":
    conf = (SparkConf().setMaster("local[1]").setAppName("picklecheck-test")
            .set("spark.driver.host", "127.0.0.1").set("spark.driver.bindAddress", "127.0.0.1")
            .set("spark.ui.enabled", "false"))
    sc = SparkContext(conf=conf)
    sc.setLogLevel("OFF")
    model = Model(1)
    try:
        print(sc.parallelize([1, 2]).map(lambda x: x + model.n).collect())
    finally:
        sc.stop()
